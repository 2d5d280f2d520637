//! The integration tests, one binary: one link, one migrated PostgreSQL
//! template (`common::pg`) and one OCR engine shared by every module. Run
//! one module with
//! `cargo test --test suite MODULE::`.

// First, so that `on_both_backends!` is in scope in every module below.
#[macro_use]
mod common;

mod admin;
mod bad_input;
mod chsi_client;
mod cli;
mod cluster;
mod code_guesses;
mod conformance;
mod console;
mod desk;
mod front_door;
mod hardening;
mod harness;
mod image_intake;
mod intake;
mod integration;
mod line_reader;
mod live_service;
mod network_partition;
mod non_report_pages;
mod ocr_accuracy;
mod pipeline;
mod properties;
mod queues;
mod redactions;
mod reliability;
mod screenshots;
mod security;
