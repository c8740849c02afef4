/*
 * errors: cairn's error codes and their one mapping to the wire.
 *
 * Functions across cairn return 0, a negative errno, or a negative cairn
 * code (>= CAIRN_EBASE). The wire carries the Status enum of cairn.proto;
 * err_to_status() and err_from_status() are the only translation between
 * the two. The same numbers are public in client/include/cairn.h.
 */
#ifndef CAIRN_ERRORS_H
#define CAIRN_ERRORS_H

enum {
	CAIRN_EBASE = 1000,
	CAIRN_ECHECKSUM = 1000, /* data failed its CRC32C */
	CAIRN_ESTALE = 1001,    /* replica or chunk version is stale */
	CAIRN_ELEASE = 1002,    /* lease held by another client or lost */
	CAIRN_EPROTO = 1003,    /* malformed or unexpected message */
	CAIRN_EUNAVAIL = 1004,  /* server unreachable */
	CAIRN_EINTERNAL = 1005, /* a bug or inconsistency on the server */
	CAIRN_ENOTLEADER = 1006, /* not the metaserver leader (the client moves on) */
	CAIRN_ELAST = 1007,
};

/* Maps a negative error (or 0) to a cairn.proto Status number. */
int err_to_status(int err);

/* Maps a Status number to 0 or a negative error; unknown numbers give -CAIRN_EPROTO. */
int err_from_status(int status);

/* A short human description of a negative error; never NULL. Borrowed, static. */
const char *err_str(int err);

#endif
