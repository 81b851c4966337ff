//! TODO(builder-formats): vmdk
