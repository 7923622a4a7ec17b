"""Pure domain logic: no I/O, no clock, no Kubernetes client, no Kopf.

Every function here takes the current time and the relevant state as
arguments and returns values, so it is table-tested in milliseconds.
"""
