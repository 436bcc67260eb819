"""A study's life: open or join it, check its budget, run trials (in several workers), survive signals."""
