/*
 * s3: cairn-s3, an S3-compatible HTTP gateway over libcairn.
 *
 * Layout in cairn (all under --root, default /s3):
 *   <root>/<bucket>/                 a bucket is a directory
 *   <root>/<bucket>/<k1>/<k2>/<k3>   object "k1/k2/k3": '/' separates directories,
 *                                    each segment escaped by key_segment_escape()
 *   <root>/<bucket>/%.meta/<id>/     the object's sidecar, named by its inode number (hex)
 *   <root>/<bucket>/%.tmp/<random>   uploads in progress (renamed into place whole)
 *   <root>/<bucket>/%.mp/<uploadId>/ a multipart upload: "info" and one file per part
 * Escaped segment names never start with "%.", so these never collide with keys.
 *
 * Sidecar: text lines "name: value": "etag" is the quoted ETag; every other
 * line is a response header kept with the object (Content-Type,
 * Cache-Control, Content-Disposition, Content-Encoding, Content-Language,
 * Expires, x-amz-meta-*). It is stored as the name of the one empty file
 * in the sidecar directory, base64url-encoded, so writing it costs two
 * metadata operations and no data; text too long for a 255-byte name goes
 * into a file "m" there instead. A sidecar is written before its object is
 * renamed into place and never changes afterwards (a new object is a new
 * inode), so any gateway may cache it by inode number. An object without
 * a sidecar (a file written by other cairn clients) gets Content-Type
 * binary/octet-stream and ETag "<id>-<mtime>" (hex), which no client takes
 * for an MD5.
 *
 * Concurrency: stateless between requests; one worker thread per
 * connection (s3_main.c), libcairn's handle shared by all.
 */
#ifndef CAIRN_S3_H
#define CAIRN_S3_H

#include <stddef.h>
#include <stdint.h>

#include <openssl/ssl.h>

#include "cairn.h"
#include "s3_auth.h"
#include "s3_http.h"

#define S3_KEY_MAX    1024
#define S3_IO_BUF     (1 << 20) /* per worker: the only buffer a body streams through */
#define S3_XML_MAX    (1 << 20) /* DeleteObjects / CompleteMultipartUpload bodies */
#define S3_META_MAX   8192	/* a sidecar */
#define S3_PARTS_MAX  10000
#define S3_CACHE_SIZE 8192 /* sidecars cached, direct-mapped by inode */

struct s3_cache;

/* The gateway's one root, made in s3_main.c. */
struct s3_gw {
	cairn_t *c;
	char *root; /* no trailing slash */
	char **public_buckets;
	size_t npublic;
	struct s3_auth *auth; /* NULL: no keys, every request allowed */
	SSL_CTX *tls;	      /* NULL: plain HTTP */
	struct s3_cache *cache;
	uint64_t boot;	    /* random, names this process in request ids */
	uint64_t requests; /* counter for request ids (atomic) */
};

/* One request being served. */
struct s3_req {
	struct s3_gw *gw;
	struct http_conn *conn;
	struct http_req *http;
	char *bucket; /* decoded, NULL for the service */
	char *key;    /* decoded, NULL for a bucket */
	struct auth_result auth;
	char *buf; /* S3_IO_BUF bytes, the worker's */
	int responded;
	int close; /* the connection must close after this response */
};

/* Serves one request (routing, authentication, the handler). Worker threads. */
void s3_serve(struct s3_req *q);

/* Sends an S3 XML error. Returns 0 or -EPIPE. */
int s3_error(struct s3_req *q, int status, const char *code, const char *message);
/* Sends the error matching a cairn error (-ENOENT: missing_code, 404). */
int s3_error_errno(struct s3_req *q, int err, const char *missing_code);
/* Sends 200 with an XML body. */
int s3_xml(struct s3_req *q, struct sbuf *body);

/* A decoded query parameter (new string) or NULL; s3_has_query: present at all. */
char *s3_query(const struct s3_req *q, const char *name);
int s3_has_query(const struct s3_req *q, const char *name);

/* ---- keys and paths (s3_key.c) ---- */

/* Whether name is a valid S3 bucket name (3..63 of a-z 0-9 . -, starting and ending alnum). */
int key_bucket_ok(const char *name);
/* Appends the escaped form of one key segment of n bytes. */
void key_segment_escape(struct sbuf *b, const char *seg, size_t n);
/* Decodes a directory entry name into a new string; NULL for internal names ("%."...). */
char *key_segment_unescape(const char *name);
/* Appends <root>/<bucket>[/<escaped key>] to b. Returns 0 or -EINVAL (key too long, empty). */
int key_path(struct sbuf *b, const char *root, const char *bucket, const char *key);
/* Appends <root>/<bucket>/%.<area>[/<name>]. */
void key_internal(struct sbuf *b, const char *root, const char *bucket, const char *area,
		  const char *name);

/* ---- objects (s3_obj.c) ---- */

struct s3_cache *obj_cache_new(void);
void obj_cache_free(struct s3_cache *c);

/* An object's sidecar, parsed. */
struct obj_meta {
	uint64_t id;
	char etag[80];	     /* quoted */
	struct sbuf headers; /* "Name: value\r\n" lines to send back */
};
void obj_meta_free(struct obj_meta *m);

/*
 * Reads the sidecar of the object with inode st->id in bucket into m, or
 * synthesises one (see above) when there is none. Returns 0 or a negative error.
 */
int obj_meta_get(struct s3_req *q, const char *bucket, const struct cairn_stat *st,
		 struct obj_meta *m);

/*
 * Collects from the request the headers kept with an object into *out
 * ("Name: value\r\n" lines). Returns 0, or -EINVAL when they exceed 2 KiB of
 * user metadata.
 */
int obj_meta_from_request(const struct s3_req *q, struct sbuf *out);

/* An upload being written: a temporary file in the bucket's %.tmp. */
struct obj_upload {
	char *tmp; /* path */
	cairn_file_t *f;
	uint64_t size;
	unsigned char md5[16];
};

/* Makes a new temporary file in bucket. Returns 0 or a negative error (-ENOENT: no bucket). */
int obj_upload_begin(struct s3_req *q, const char *bucket, struct obj_upload *u);
/*
 * Streams the request body into u (checking Content-MD5 and the signed
 * SHA-256 as it goes). On failure an S3 error was sent. Returns 0 or -1.
 */
int obj_upload_body(struct s3_req *q, struct obj_upload *u);
/*
 * Closes u's file, writes the sidecar (etag, headers) and renames the file
 * to bucket/key, replacing an older object. Returns 0 or a negative error;
 * u is finished either way (the temporary file removed on failure).
 */
int obj_upload_commit(struct s3_req *q, struct obj_upload *u, const char *bucket,
		      const char *key, const char *etag, const struct sbuf *headers);
/* Abandons u: closes and removes the temporary file. */
void obj_upload_abort(struct s3_req *q, struct obj_upload *u);

/* Removes bucket/key and its sidecar, then its emptied parent directories. Returns 0 or -errno. */
int obj_delete(struct s3_req *q, const char *bucket, const char *key);

/* Copies the open file src (from its start, size bytes) into u. Returns 0 or a negative error. */
int obj_copy_data(struct s3_req *q, cairn_file_t *src, uint64_t size, struct obj_upload *u);

/* The text of the next <tag>...</tag> at or after *pos (NULL: start) in xml, entities
 * decoded, as a new string; NULL when there is none. Advances *pos past it. */
char *s3_xml_next(const char *xml, const char *tag, const char **pos);

/* ---- handlers ---- */
int s3_list_objects(struct s3_req *q);
int s3_mpu_create(struct s3_req *q);
int s3_mpu_upload_part(struct s3_req *q);
int s3_mpu_complete(struct s3_req *q);
int s3_mpu_abort(struct s3_req *q);
int s3_mpu_list_parts(struct s3_req *q);
int s3_mpu_list_uploads(struct s3_req *q);

/* ISO 8601 with milliseconds ("2006-02-03T16:45:09.000Z") of a µs time into out[32]. */
void s3_iso_time(int64_t us, char out[32]);

#endif
