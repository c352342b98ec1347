-- Emails written by their sender (the portal's registration confirmations,
-- password resets, help-desk tickets) go through the same outbox as the
-- "domanda ricevuta" emails: such a row has no submission and carries its
-- own subject and body.
ALTER TABLE email_outbox
    ALTER COLUMN submission_id DROP NOT NULL,
    ADD COLUMN subject TEXT,
    ADD COLUMN body TEXT,
    -- Either rendered from a submission, or written: never both, never neither.
    ADD CONSTRAINT email_outbox_one_content
        CHECK ((submission_id IS NULL) = (body IS NOT NULL) AND (subject IS NULL) = (body IS NULL));
