"""Alerts while it happens (issue 22): rules over the last minutes, stored, sent to chat.

`engine.AlertEngine` is what the runner wires to collectors (after each stored
page) and streams (after each batch); `rules` says what raises an alert,
`render` how each channel shows it, `channels` where it goes.
"""

from tagwatch.monitor.alerts.engine import AlertEngine, TestResult, check_alerts
from tagwatch.monitor.alerts.rules import Finding, protected_accounts

__all__ = ["AlertEngine", "TestResult", "Finding", "check_alerts", "protected_accounts"]
