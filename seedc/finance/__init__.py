"""Exact loan finance (Price, SAC, IOF, CET) in `decimal`, shared by compiler and runtime."""
