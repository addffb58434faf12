"""Pure market logic: arrays and a policy in, plain data out. No I/O, no clock, no globals.

Nothing here imports from the rest of ``krstock``.
"""
