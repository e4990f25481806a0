"""Time tracking's read side: the time log (written in the appending transaction) and its queries."""
