"""The capture domain: what a captured email, meeting or web visit is, how raw messages
and calendars are read, who takes part, what is never captured, and the events captures
raise. No framework imports here (the standard library's `email`, `icalendar` and the
kit's errors, ids and entity base only)."""
