"""One reader per dataset layout. Each ``read(root)`` returns ``(index, ledger)``: the frame
index (pandas, one row per frame) and the ledger rows of frames it excluded or masked.
Readers are called through :func:`aulib.data.frame_index`, which caches their output."""
