"""The do-file interpreter.

``source``   do-file text -> statements (comments, ``///``, ``#delimit``)
``parse``    a statement -> prefixes, command word, arguments (``grammar/dofile.lark``)
``macros``   ``local``/``global`` and macro expansion
``registry`` command names, abbreviations and handlers
``session``  the shared state: data, e(), stored estimates, matrices, constraints, r(), _rc,
             output and log file
``runner``   runs statements, echoing them as Stata's log does; stops at the first error

Command families: ``data_cmds`` (use, webuse, import/export delimited, save, describe,
summarize, list, clear), ``variables`` (generate, replace, keep, drop, sort), ``estimation``
(melogit, estimates, lrtest, ereturn/return list), ``postestimation`` (predict, estat),
``display`` (display, scalar, matrix, constraint), ``control`` (log, set, version, do, run,
exit).
"""
