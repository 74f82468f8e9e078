"""The tasks service: tasks, teams and assignment, playbooks, automation rules, reminders."""
