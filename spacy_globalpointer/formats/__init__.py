"""Readers of annotation formats, one module each, every one yielding
GoldRecords (records.py); converting.py dispatches to them."""
