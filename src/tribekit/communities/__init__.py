"""Communities: chat groups on channels and their members."""
