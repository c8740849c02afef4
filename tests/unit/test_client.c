/*
 * test_client: libcairn's own decisions, against scripted fakes.
 *
 * Each fake is a server on a loopback port, run by a thread of this test,
 * that speaks cairn's frames (common/frame.c) and answers every request
 * with what the test's script function says: a body, a status with words
 * (and a leader for STATUS_NOT_LEADER), silence, or a closed connection.
 * The client is the real libcairn, through its public API. What is tested
 * is what the client decides: moving along the metaserver address list,
 * following "not the leader", retrying within its deadline and giving up
 * with libcairn's words, refusing an answer of the wrong kind, resending a
 * write down a new chain after a chain member failed, and reading from
 * the next replica after a bad one (reporting it). This is the one place
 * fakes are right: our real servers are tested by the integration suite.
 */
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <event2/buffer.h>

#include "errors.h" /* before cairn.h, which then leaves the error names to it */
#include "cairn.h"
#include "check.h"
#include "frame.h"

#define FAKE_CONNS 64
#define FAKE_STORE (1u << 20)
#define CHUNK_SIZE (1u << 20)
#define FILE_LEN   (300u * 1024 + 7)

/* What a fake answers to one request; the script fills it. */
struct answer {
	int err; /* 0, or a negative error sent as the status */
	const char *why;
	const char *leader;
	int close;	      /* close the connection instead of answering */
	int silent;	      /* answer nothing */
	Cairn__Envelope body; /* body_case NOT_SET: an empty ok */
	struct evbuffer *payload;
	/* storage the script may point the body at */
	Cairn__Empty empty;
	Cairn__Attr attr;
	Cairn__AttrResp attr_resp;
	Cairn__OpenResp open;
	Cairn__ChunkInfo ci, *cis[1];
	Cairn__ChunkResp chunk;
	Cairn__ReadResp data;
	char *reps[4];
};

struct fake;
typedef void (*fake_fn)(struct fake *f, const Cairn__Envelope *req, struct evbuffer *payload,
			struct answer *a);

struct fake {
	int lfd;
	char addr[32];
	pthread_t thread;
	volatile int stop;
	fake_fn fn;
	pthread_mutex_t lock;
	/* lock-protected: */
	int calls[128]; /* requests seen, by body case (the small ones) */
	int ncalls;
	int connects;
	uint64_t reported; /* the chunk id of the last ReportBadReq */
	char reported_replica[64];
	uint64_t released_size; /* LeaseReq with release */
	int released;
	unsigned char store[FAKE_STORE]; /* a chunkserver's bytes, by offset */
	size_t stored;
	/* the script's own state */
	int n;
	struct fake *peer[3]; /* other fakes a script names */
};

static const unsigned char *content; /* FILE_LEN bytes the tests write and read */

static void fake_answer(struct fake *f, int fd, struct evbuffer *out, const Cairn__Envelope *req,
			struct evbuffer *payload, int *close_it)
{
	struct answer a;
	memset(&a, 0, sizeof(a));
	cairn__envelope__init(&a.body);
	pthread_mutex_lock(&f->lock);
	if ((unsigned)req->body_case < 128)
		f->calls[req->body_case]++;
	f->ncalls++;
	f->fn(f, req, payload, &a);
	pthread_mutex_unlock(&f->lock);
	if (a.close) {
		*close_it = 1;
		return;
	}
	if (!a.silent) {
		Cairn__Envelope r = a.body;
		r.call_id = req->call_id;
		r.is_reply = 1;
		r.status = err_to_status(a.err);
		r.error = (char *)a.why;
		r.leader = (char *)a.leader;
		if (r.body_case == CAIRN__ENVELOPE__BODY__NOT_SET || a.err) {
			cairn__empty__init(&a.empty);
			r.body_case = CAIRN__ENVELOPE__BODY_OK;
			r.ok = &a.empty;
		}
		CHECK(frame_encode(out, &r, a.err ? NULL : a.payload) == 0);
		while (evbuffer_get_length(out) > 0)
			if (evbuffer_write(out, fd) < 0)
				break;
	}
	if (a.payload)
		evbuffer_free(a.payload);
}

static void *fake_main(void *arg)
{
	struct fake *f = arg;
	int fds[FAKE_CONNS];
	struct evbuffer *in[FAKE_CONNS];
	int n = 0;
	struct evbuffer *out = evbuffer_new();
	while (!f->stop) {
		struct pollfd p[FAKE_CONNS + 1];
		p[0] = (struct pollfd){f->lfd, POLLIN, 0};
		for (int i = 0; i < n; i++)
			p[i + 1] = (struct pollfd){fds[i], POLLIN, 0};
		if (poll(p, (nfds_t)n + 1, 20) <= 0)
			continue;
		if ((p[0].revents & POLLIN) && n < FAKE_CONNS) {
			int fd = accept(f->lfd, NULL, NULL);
			if (fd >= 0) {
				fds[n] = fd;
				in[n++] = evbuffer_new();
				pthread_mutex_lock(&f->lock);
				f->connects++;
				pthread_mutex_unlock(&f->lock);
			}
		}
		for (int i = 0; i < n; i++) {
			if (!p[i + 1].revents)
				continue;
			int close_it = evbuffer_read(in[i], fds[i], 1 << 20) <= 0;
			Cairn__Envelope *req;
			struct evbuffer *payload;
			char *cause = NULL;
			while (!close_it && frame_decode(in[i], &req, &payload, &cause) == 1) {
				fake_answer(f, fds[i], out, req, payload, &close_it);
				cairn__envelope__free_unpacked(req, NULL);
				if (payload)
					evbuffer_free(payload);
			}
			free(cause);
			if (close_it) {
				close(fds[i]);
				evbuffer_free(in[i]);
				fds[i] = fds[n - 1];
				in[i] = in[n - 1];
				n--;
				p[i + 1] = p[n + 1];
				i--;
			}
		}
	}
	for (int i = 0; i < n; i++) {
		close(fds[i]);
		evbuffer_free(in[i]);
	}
	evbuffer_free(out);
	return NULL;
}

static struct fake *fake_start(fake_fn fn)
{
	struct fake *f = calloc(1, sizeof(*f));
	f->fn = fn;
	pthread_mutex_init(&f->lock, NULL);
	f->lfd = socket(AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t len = sizeof(sa);
	CHECK(bind(f->lfd, (struct sockaddr *)&sa, sizeof(sa)) == 0);
	CHECK(listen(f->lfd, FAKE_CONNS) == 0);
	CHECK(getsockname(f->lfd, (struct sockaddr *)&sa, &len) == 0);
	snprintf(f->addr, sizeof(f->addr), "127.0.0.1:%d", ntohs(sa.sin_port));
	pthread_create(&f->thread, NULL, fake_main, f);
	return f;
}

static void fake_stop(struct fake *f)
{
	f->stop = 1;
	pthread_join(f->thread, NULL);
	close(f->lfd);
	pthread_mutex_destroy(&f->lock);
	free(f);
}

static int fake_calls(struct fake *f, Cairn__Envelope__BodyCase kind)
{
	pthread_mutex_lock(&f->lock);
	int n = f->calls[kind];
	pthread_mutex_unlock(&f->lock);
	return n;
}

/* An address where nothing listens (a port bound and closed again). */
static void dead_addr(char *buf, size_t size)
{
	struct fake *f = fake_start(NULL);
	snprintf(buf, size, "%s", f->addr);
	fake_stop(f);
}

static cairn_t *connect_to(const char *addr, uint64_t timeout_ms)
{
	struct cairn_options opt = {0};
	opt.timeout_ms = timeout_ms;
	cairn_t *c = NULL;
	CHECK(cairn_connect(addr, &opt, &c) == 0);
	return c;
}

static void answer_attr(struct answer *a)
{
	cairn__attr__init(&a->attr);
	cairn__attr_resp__init(&a->attr_resp);
	a->attr.id = 42;
	a->attr.type = CAIRN__FILE_TYPE__FILE_TYPE_DIR;
	a->attr_resp.attr = &a->attr;
	a->body.body_case = CAIRN__ENVELOPE__BODY_ATTR;
	a->body.attr = &a->attr_resp;
}

/* ---- scripts ---- */

/* A metaserver that answers stat with a directory and the rest with ok. */
static void meta_ok(struct fake *f, const Cairn__Envelope *req, struct evbuffer *payload,
		    struct answer *a)
{
	if (req->body_case == CAIRN__ENVELOPE__BODY_STAT)
		answer_attr(a);
}

/* Not the leader: names f->peer[0] (or no one). */
static void meta_follower(struct fake *f, const Cairn__Envelope *req, struct evbuffer *payload,
			  struct answer *a)
{
	a->err = -CAIRN_ENOTLEADER;
	a->why = "not the leader";
	a->leader = f->peer[0] ? f->peer[0]->addr : NULL;
}

/* Busy (AGAIN) for the first f->n calls, then as meta_ok. */
static void meta_busy_first(struct fake *f, const Cairn__Envelope *req, struct evbuffer *payload,
			    struct answer *a)
{
	if (f->ncalls <= f->n) {
		a->err = -EAGAIN;
		a->why = "come back later";
		return;
	}
	meta_ok(f, req, payload, a);
}

/* Closes the connection on the first f->n calls, then as meta_ok. */
static void meta_drop_first(struct fake *f, const Cairn__Envelope *req, struct evbuffer *payload,
			    struct answer *a)
{
	if (f->ncalls <= f->n) {
		a->close = 1;
		return;
	}
	meta_ok(f, req, payload, a);
}

static void meta_silent(struct fake *f, const Cairn__Envelope *req, struct evbuffer *payload,
			struct answer *a)
{
	a->silent = 1;
}

/* Answers everything with an empty ok, stat included (a reply of the wrong kind). */
static void meta_wrong_kind(struct fake *f, const Cairn__Envelope *req, struct evbuffer *payload,
			    struct answer *a)
{
}

/* Sets a->ci to chunk 0 (id 7, version v) on the replicas of fakes. */
static void chunk_on(struct answer *a, uint64_t v, struct fake *const *fakes, size_t n)
{
	cairn__chunk_info__init(&a->ci);
	a->ci.index = 0;
	a->ci.id = 7;
	a->ci.version = v;
	for (size_t i = 0; i < n; i++)
		a->reps[i] = fakes[i]->addr;
	a->ci.n_replicas = n;
	a->ci.replicas = a->reps;
}

/*
 * The metaserver of the data tests: a one-chunk file on peer[0] then
 * peer[1] (for a reader: locations; for a writer: chunk 0 allocated with
 * the open on that chain); an AllocateReq gets version 2 on peer[2] alone.
 */
static void meta_data(struct fake *f, const Cairn__Envelope *req, struct evbuffer *payload,
		      struct answer *a)
{
	switch (req->body_case) {
	case CAIRN__ENVELOPE__BODY_OPEN: {
		int write = req->open->write;
		cairn__attr__init(&a->attr);
		a->attr.id = 3;
		a->attr.type = CAIRN__FILE_TYPE__FILE_TYPE_FILE;
		a->attr.size = write ? 0 : FILE_LEN;
		a->attr.nchunks = 1;
		cairn__open_resp__init(&a->open);
		a->open.attr = &a->attr;
		a->open.chunk_size = CHUNK_SIZE;
		a->open.lease_ms = 60000;
		chunk_on(a, 1, f->peer, 2);
		if (write) {
			a->open.lease_id = 5;
			a->open.chunk = &a->ci;
		} else {
			a->cis[0] = &a->ci;
			a->open.chunks = a->cis;
			a->open.n_chunks = 1;
		}
		a->body.body_case = CAIRN__ENVELOPE__BODY_OPENED;
		a->body.opened = &a->open;
		break;
	}
	case CAIRN__ENVELOPE__BODY_ALLOCATE:
		chunk_on(a, 2, &f->peer[2], 1);
		cairn__chunk_resp__init(&a->chunk);
		a->chunk.chunk = &a->ci;
		a->body.body_case = CAIRN__ENVELOPE__BODY_CHUNK;
		a->body.chunk = &a->chunk;
		break;
	case CAIRN__ENVELOPE__BODY_REPORT_BAD:
		f->reported = req->report_bad->chunk_id;
		snprintf(f->reported_replica, sizeof(f->reported_replica), "%s",
			 req->report_bad->replica ? req->report_bad->replica : "");
		break;
	case CAIRN__ENVELOPE__BODY_LEASE:
		if (req->lease->release) {
			f->released = 1;
			f->released_size = req->lease->size;
		}
		break;
	default:
		break;
	}
}

/* A chunkserver that stores what it is sent and serves reads from content. */
static void chunk_good(struct fake *f, const Cairn__Envelope *req, struct evbuffer *payload,
		       struct answer *a)
{
	if (req->body_case == CAIRN__ENVELOPE__BODY_WRITE) {
		size_t off = req->write->offset;
		size_t len = payload ? evbuffer_get_length(payload) : 0;
		if (off + len <= FAKE_STORE) {
			evbuffer_copyout(payload, f->store + off, len);
			if (off + len > f->stored)
				f->stored = off + len;
		}
	} else if (req->body_case == CAIRN__ENVELOPE__BODY_READ) {
		uint64_t off = req->read->offset, len = req->read->length;
		if (off > FILE_LEN)
			off = FILE_LEN;
		if (len > FILE_LEN - off)
			len = FILE_LEN - off;
		a->payload = evbuffer_new();
		evbuffer_add(a->payload, content + off, len);
		cairn__read_resp__init(&a->data);
		a->data.length = len;
		a->body.body_case = CAIRN__ENVELOPE__BODY_DATA;
		a->body.data = &a->data;
	}
}

/* A chunkserver whose connection breaks on every write. */
static void chunk_dies(struct fake *f, const Cairn__Envelope *req, struct evbuffer *payload,
		       struct answer *a)
{
	a->close = 1;
}

/* A chunkserver whose replica fails its checksums. */
static void chunk_corrupt(struct fake *f, const Cairn__Envelope *req, struct evbuffer *payload,
			  struct answer *a)
{
	a->err = -CAIRN_ECHECKSUM;
	a->why = "block 0 failed its CRC";
}

/* ---- tests ---- */

/* A list whose first member is down: the call moves to the next one. */
static void test_address_list_failover(void)
{
	struct fake *m = fake_start(meta_ok);
	char dead[32], list[80];
	dead_addr(dead, sizeof(dead));
	snprintf(list, sizeof(list), "%s, %s", dead, m->addr);
	cairn_t *c = connect_to(list, 20000);
	struct cairn_stat st;
	CHECK(cairn_stat(c, "/x", &st) == 0 && st.id == 42);
	CHECK(cairn_mkdir(c, "/y", 0755) == 0);
	CHECK(fake_calls(m, CAIRN__ENVELOPE__BODY_STAT) == 1);
	CHECK(strcmp(cairn_meta_addr(c), list) == 0);
	cairn_disconnect(c);
	fake_stop(m);

	cairn_t *bad = NULL;
	CHECK(cairn_connect("127.0.0.1:1,nonsense", NULL, &bad) == -EINVAL && !bad);
	CHECK(cairn_connect("127.0.0.1:1,", NULL, &bad) == -EINVAL && !bad);
}

/* "Not the leader, try X": the call goes to X, and so do the next ones. */
static void test_leader_redirect(void)
{
	struct fake *leader = fake_start(meta_ok);
	struct fake *follower = fake_start(meta_follower);
	follower->peer[0] = leader;
	cairn_t *c = connect_to(follower->addr, 20000);
	struct cairn_stat st;
	CHECK(cairn_stat(c, "/x", &st) == 0 && st.id == 42);
	CHECK(cairn_mkdir(c, "/y", 0755) == 0);
	CHECK(fake_calls(follower, CAIRN__ENVELOPE__BODY_STAT) == 1);
	CHECK(fake_calls(follower, CAIRN__ENVELOPE__BODY_MKDIR) == 0);
	CHECK(fake_calls(leader, CAIRN__ENVELOPE__BODY_STAT) == 1);
	CHECK(fake_calls(leader, CAIRN__ENVELOPE__BODY_MKDIR) == 1);
	cairn_disconnect(c);

	/* A follower that names no leader: the next member of the list. */
	struct fake *quiet = fake_start(meta_follower);
	char list[80];
	snprintf(list, sizeof(list), "%s,%s", quiet->addr, leader->addr);
	c = connect_to(list, 20000);
	CHECK(cairn_ping(c) == 0);
	CHECK(fake_calls(quiet, CAIRN__ENVELOPE__BODY_PING) == 1);
	CHECK(fake_calls(leader, CAIRN__ENVELOPE__BODY_PING) == 1);
	cairn_disconnect(c);

	/* Followers only, each naming the other: the call gives up in its time. */
	struct fake *other = fake_start(meta_follower);
	other->peer[0] = quiet;
	quiet->peer[0] = other;
	c = connect_to(quiet->addr, 500);
	CHECK(cairn_ping(c) == -CAIRN_EUNAVAIL);
	cairn_disconnect(c);
	fake_stop(other);
	fake_stop(quiet);
	fake_stop(follower);
	fake_stop(leader);
}

/* AGAIN and a lost connection are retried; the words of the last refusal stay. */
static void test_retries(void)
{
	struct fake *m = fake_start(meta_busy_first);
	m->n = 2;
	cairn_t *c = connect_to(m->addr, 20000);
	CHECK(cairn_mkdir(c, "/a", 0755) == 0);
	CHECK(fake_calls(m, CAIRN__ENVELOPE__BODY_MKDIR) == 3);
	cairn_disconnect(c);
	fake_stop(m);

	m = fake_start(meta_busy_first);
	m->n = 1 << 30;
	c = connect_to(m->addr, 300);
	CHECK(cairn_mkdir(c, "/a", 0755) == -EAGAIN);
	CHECK(strcmp(cairn_last_error(c), "come back later") == 0);
	CHECK(!cairn_meta_gave_up(c));
	cairn_disconnect(c);
	fake_stop(m);

	m = fake_start(meta_drop_first);
	m->n = 2;
	c = connect_to(m->addr, 20000);
	CHECK(cairn_mkdir(c, "/a", 0755) == 0);
	CHECK(fake_calls(m, CAIRN__ENVELOPE__BODY_MKDIR) == 3);
	cairn_disconnect(c);
	fake_stop(m);
}

/* Nobody there, or nobody answering: the deadline holds and libcairn says why. */
static void test_deadlines(void)
{
	char dead[32], want[128];
	dead_addr(dead, sizeof(dead));
	cairn_t *c = connect_to(dead, 300);
	time_t t0 = time(NULL);
	CHECK(cairn_ping(c) == -CAIRN_EUNAVAIL);
	CHECK(cairn_meta_gave_up(c));
	snprintf(want, sizeof(want), "metaserver %s unavailable (gave up after 300ms)", dead);
	CHECKF(strcmp(cairn_last_error(c), want) == 0, "last error: %s", cairn_last_error(c));
	cairn_disconnect(c);

	struct fake *m = fake_start(meta_silent);
	c = connect_to(m->addr, 1000);
	struct cairn_stat st;
	CHECK(cairn_stat(c, "/x", &st) == -CAIRN_EUNAVAIL); /* never answered: not reached */
	CHECK(cairn_meta_gave_up(c));
	CHECK(strstr(cairn_last_error(c), "gave up after 1s") != NULL);
	CHECK(time(NULL) - t0 < 60); /* "nothing hangs", not a latency */
	cairn_disconnect(c);
	fake_stop(m);

	/* The default timeout is libcairn's. */
	CHECK(cairn_connect("127.0.0.1:1", NULL, &c) == 0);
	CHECK(cairn_timeout_ms(c) == CAIRN_DEFAULT_TIMEOUT_S * 1000ull);
	cairn_disconnect(c);
}

/* An answer of the wrong kind is a protocol error, never read as the right one. */
static void test_wrong_kind(void)
{
	struct fake *m = fake_start(meta_wrong_kind);
	cairn_t *c = connect_to(m->addr, 20000);
	struct cairn_stat st;
	CHECK(cairn_stat(c, "/x", &st) == -CAIRN_EPROTO);
	cairn_file_t *f;
	CHECK(cairn_open(c, "/x", CAIRN_O_RDONLY, 0, &f) == -CAIRN_EPROTO);
	cairn_disconnect(c);
	fake_stop(m);
}

#define SHARERS 40 /* threads on one handle: more than it has metaserver connections */

static void *stat_many(void *arg)
{
	cairn_t *c = arg;
	long bad = 0;
	for (int i = 0; i < 50; i++) {
		struct cairn_stat st;
		bad += cairn_stat(c, "/x", &st) != 0 || st.id != 42;
	}
	return (void *)bad;
}

/* Many threads on one handle: each call gets a connection (waiting for one), none fails. */
static void test_threads_share_a_handle(void)
{
	struct fake *m = fake_start(meta_ok);
	cairn_t *c = connect_to(m->addr, 60000);
	pthread_t t[SHARERS];
	for (int i = 0; i < SHARERS; i++)
		pthread_create(&t[i], NULL, stat_many, c);
	long bad = 0;
	for (int i = 0; i < SHARERS; i++) {
		void *r;
		pthread_join(t[i], &r);
		bad += (long)r;
	}
	CHECK(bad == 0);
	CHECK(fake_calls(m, CAIRN__ENVELOPE__BODY_STAT) == SHARERS * 50);
	cairn_disconnect(c);
	fake_stop(m);
}

/* Waits (a bounded while) until cond(f) holds. */
static int wait_until(struct fake *f, int (*cond)(struct fake *))
{
	for (int i = 0; i < 1000; i++) {
		pthread_mutex_lock(&f->lock);
		int ok = cond(f);
		pthread_mutex_unlock(&f->lock);
		if (ok)
			return 1;
		usleep(10000);
	}
	return 0;
}

static int reported(struct fake *f)
{
	return f->reported != 0;
}

/* The primary of the chain dies on the write: reported, a new chain, everything resent there. */
static void test_write_chain_recovery(void)
{
	struct fake *a = fake_start(chunk_dies), *b = fake_start(chunk_good);
	struct fake *n = fake_start(chunk_good), *m = fake_start(meta_data);
	m->peer[0] = a;
	m->peer[1] = b;
	m->peer[2] = n;
	cairn_t *c = connect_to(m->addr, 20000);
	cairn_file_t *f;
	CHECK(cairn_open(c, "/w", CAIRN_O_WRONLY | CAIRN_O_CREAT | CAIRN_O_TRUNC, 0644, &f) == 0);
	CHECK(cairn_write(f, content, FILE_LEN) == (ssize_t)FILE_LEN);
	CHECKF(cairn_close(f) == 0, "close: %s", cairn_last_error(c));
	CHECK(fake_calls(a, CAIRN__ENVELOPE__BODY_WRITE) >= 1);
	CHECK(fake_calls(m, CAIRN__ENVELOPE__BODY_ALLOCATE) == 1);
	CHECK(m->reported == 7 && strcmp(m->reported_replica, a->addr) == 0);
	CHECK(n->stored == FILE_LEN && memcmp(n->store, content, FILE_LEN) == 0);
	CHECK(m->released && m->released_size == FILE_LEN);
	cairn_disconnect(c);
	fake_stop(m);
	fake_stop(n);
	fake_stop(b);
	fake_stop(a);
}

/* The first replica fails its checksum: the reader gets the bytes from the next, and reports it. */
static void test_read_failover(void)
{
	struct fake *a = fake_start(chunk_corrupt), *b = fake_start(chunk_good);
	struct fake *m = fake_start(meta_data);
	m->peer[0] = a;
	m->peer[1] = b;
	cairn_t *c = connect_to(m->addr, 20000);
	cairn_file_t *f;
	CHECK(cairn_open(c, "/r", CAIRN_O_RDONLY, 0, &f) == 0);
	unsigned char *buf = malloc(FILE_LEN + 10);
	size_t got = 0;
	ssize_t r;
	while ((r = cairn_read(f, buf + got, FILE_LEN + 10 - got)) > 0)
		got += (size_t)r;
	CHECKF(r == 0, "read: %zd %s", r, cairn_last_error(c));
	CHECK(got == FILE_LEN && memcmp(buf, content, FILE_LEN) == 0);
	CHECK(cairn_close(f) == 0);
	CHECK(fake_calls(a, CAIRN__ENVELOPE__BODY_READ) >= 1);
	CHECK(wait_until(m, reported));
	CHECK(m->reported == 7 && strcmp(m->reported_replica, a->addr) == 0);
	free(buf);
	cairn_disconnect(c);
	fake_stop(m);
	fake_stop(b);
	fake_stop(a);
}

int main(void)
{
	unsigned char *bytes = malloc(FILE_LEN);
	for (size_t i = 0; i < FILE_LEN; i++)
		bytes[i] = (unsigned char)(i * 7 + i / 251);
	content = bytes;
	test_address_list_failover();
	test_leader_redirect();
	test_retries();
	test_deadlines();
	test_wrong_kind();
	test_threads_share_a_handle();
	test_write_chain_recovery();
	test_read_failover();
	free(bytes);
	if (failures)
		fprintf(stderr, "test_client: %d failures\n", failures);
	return failures != 0;
}
