pub mod fixtures;
pub mod line_reader;
