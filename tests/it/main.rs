//! The one integration test binary: the edges (store, legacy sources, mail, CLI) against the real
//! thing. Tests that need PostgreSQL or MariaDB skip loudly outside CI when the server is not
//! there; under `CI=true` they fail instead.

mod cli;
mod crash;
mod extract_sources;
mod intake;
mod letters;
mod load_files;
mod portal;
mod reconcile;
mod smtp;
mod store_contract;
mod support;
mod switch_crash;
mod team;
mod tidy;
