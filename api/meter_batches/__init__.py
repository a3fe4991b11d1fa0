"""Protocol v2 meter batches: intake of meters' signed period batches (P-256, chained)."""
