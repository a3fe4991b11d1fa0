"""Protocol v2 schedules: intake of households' signed schedules (the book) and its public view."""
