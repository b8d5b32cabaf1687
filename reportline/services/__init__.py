"""Domain services. Each takes a SQLAlchemy `Session`, never commits, imports no Flask.

The caller (a view or a CLI command) commits once, so an action and its audit
entry land together or not at all.
"""
