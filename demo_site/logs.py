"""Structured logs: with LOG_FORMAT=json every record is one JSON object per line, carrying
the fields a log call adds with `extra=` (demo, job, jobs, function), so a job's id finds
every line about it across web and worker nodes."""

import json
import logging

# The `extra=` fields Lineup's log calls use.
FIELDS = ("demo", "job", "jobs", "function", "worker")


class JSONFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "time": self.formatTime(record, "%Y-%m-%dT%H:%M:%S"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        entry |= {name: getattr(record, name) for name in FIELDS if hasattr(record, name)}
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, default=str)
