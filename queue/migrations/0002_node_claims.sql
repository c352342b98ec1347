-- Which process holds each gateway node id, until when (Unix ms): two live
-- gateways with one node id would issue colliding stamps.
CREATE TABLE node_claims (
    node       INTEGER PRIMARY KEY,
    holder     TEXT    NOT NULL,
    expires_ms INTEGER NOT NULL
);
