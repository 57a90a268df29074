"""The pure core: plain functions over data. No I/O, no clock, no logging (see STYLE.md §1)."""
