//! TODO(builder-formats): ovf
