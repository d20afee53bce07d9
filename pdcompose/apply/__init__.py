"""`pdcompose apply`: change a running deployment one instance at a time (diff.py decides, pure;
running.py reads what runs; carry.py acts on the hosts)."""
