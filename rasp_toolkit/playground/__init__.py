"""The playground (`rasp serve`): a local web page to write RASP and watch its values, compile it
and look at the heads, and run Turing machines through the engines (docs/playground.md).

`app` is the Starlette application and `guard` who may use it; `workers` sends the page's jobs
to the worker process (`forkserver`), which runs each (`jobs`) in a forked child under time and
memory limits; `famous` lists the machines the page offers.
"""
