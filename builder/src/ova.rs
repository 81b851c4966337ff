//! TODO(builder-formats): ova
