"""Thin, timed, recorded wrappers over sockets, paramiko and pyserial.

Transports know nothing of checks: they check scope before the first packet, put a
timeout on every I/O, record a transcript, and turn library exceptions into
`harness.errors.DeviceError` subclasses.
"""
