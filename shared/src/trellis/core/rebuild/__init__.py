"""Rebuilding a read view from the events without stopping the service: the rebuild itself, the
shadow copy it fills, and the sources it reads (the store or the streams).
"""
