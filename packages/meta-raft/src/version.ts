/** The software version every node reports (status, heartbeats, rolling-upgrade checks). */
export const VERSION = '0.1.0';
