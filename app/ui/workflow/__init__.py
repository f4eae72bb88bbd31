"""The consultation workflow's screens: patient registry, request form, worklist, case,
report editor, follow-up chart, notifications.

Modules named ``*_model`` are Qt-free view-models (tests drive them without widgets); the
widgets beside them render a model and forward the user's actions to it.
"""
