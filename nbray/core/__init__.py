"""The pure core of nbray: ids, task specs, events, instructions and the scheduler state machine.

Nothing in this package performs I/O, starts threads or processes, or reads the clock: time
arrives on events. The local runtime and the inline backend are shells around it.
"""
