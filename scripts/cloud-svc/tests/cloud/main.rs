//! End-to-end tests of the local cloud: each test starts a complete private cloud through
//! `scripts/cloud up` (mosquitto, the jobs service, the file server) in its own temporary run
//! directory on free ports, talks to it as a device would, and stops it when done.

mod files;
mod harness;
mod jobs;
