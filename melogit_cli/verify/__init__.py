"""``melogit verify``: re-run a published Stata log and check every printed number.

``logfile``  a log's text (plain ``.log``, or SMCL translated tag by tag)
``blocks``   the log's commands (prompt, continuations) and their output blocks
``numbers``  the numbers of an output block, each with a label and a kind
``compare``  published against ours: one unit in the last digit, tolerances by kind
``run``      the commands run in one do-file session, our output captured per command
``core``     :func:`verify_log`, which does all of the above and returns a Report
``report``   the report as text, JSON and a self-contained HTML page
``command``  the command line (click)
"""
