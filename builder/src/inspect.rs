//! TODO(builder-formats): inspect
