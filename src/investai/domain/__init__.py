"""Pure domain models, enums and errors. No I/O and no framework imports."""
