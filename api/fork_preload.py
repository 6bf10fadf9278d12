"""Imported by the fork server that starts job processes (and by nothing else): it loads the
backends and each kind's compiled code once, so that every job process forked from it starts
ready. The server process itself never pays for this."""

from makespan.api.job_process import prepare

prepare()
