/*
 * test_lease: write leases with an injected clock: one writer per file,
 * renewals push the expiry, an expired lease stops blocking, renewing or
 * being used at once (before any sweep), release frees the file, sweeping
 * reports exactly the dead leases, and ids are never handed out twice;
 * after a restart, the grace period: old holders reclaim their leases
 * (same id, once), new writers of old files wait, new files do not.
 */
#include <errno.h>
#include <stdio.h>

#include "errors.h"
#include "lease.h"

#include "check.h"

struct swept {
	uint64_t file[8];
	uint64_t id[8];
	size_t n;
};

static void on_expired(void *arg, uint64_t file_id, uint64_t lease_id)
{
	struct swept *s = arg;
	if (s->n < 8) {
		s->file[s->n] = file_id;
		s->id[s->n] = lease_id;
	}
	s->n++;
}

static void test_one_writer(void)
{
	struct lease_table *t = lease_new(300, 1000);
	uint64_t a = 0, b = 0, c = 0;
	CHECK(lease_ms(t) == 300);
	CHECK(lease_acquire(t, 7, 0, &a) == 0 && a == 1000);
	CHECK(lease_acquire(t, 7, 100, &b) == -CAIRN_ELEASE);
	CHECK(lease_acquire(t, 8, 100, &c) == 0 && c != a);
	CHECK(lease_held(t, 7, 299) && !lease_held(t, 9, 0));
	CHECK(lease_check(t, 7, a, 299) == 0);
	CHECK(lease_check(t, 7, c, 299) == -CAIRN_ELEASE); /* another file's lease */
	CHECK(lease_check(t, 7, a, 300) == -CAIRN_ELEASE); /* expired at 0 + 300 */
	/* renewing pushes the expiry to now + 300 */
	CHECK(lease_renew(t, 7, a, 250) == 0);
	CHECK(lease_check(t, 7, a, 549) == 0 && lease_held(t, 7, 549));
	CHECK(lease_acquire(t, 7, 500, &b) == -CAIRN_ELEASE);
	/* expired: a new writer gets it at once, without a sweep; the old id is dead */
	CHECK(!lease_held(t, 7, 550));
	CHECK(lease_renew(t, 7, a, 551) == -CAIRN_ELEASE);
	CHECK(lease_acquire(t, 7, 551, &b) == 0 && b != a && b != c);
	CHECK(lease_check(t, 7, a, 552) == -CAIRN_ELEASE && lease_check(t, 7, b, 552) == 0);
	CHECK(lease_count(t) == 2);
	/* release: by the holder only */
	CHECK(lease_release(t, 7, a, 600) == -CAIRN_ELEASE);
	CHECK(lease_release(t, 7, b, 600) == 0);
	CHECK(lease_release(t, 7, b, 600) == -CAIRN_ELEASE);
	CHECK(!lease_held(t, 7, 600) && lease_count(t) == 1);
	CHECK(lease_acquire(t, 7, 600, &a) == 0);
	lease_free(t);
	lease_free(NULL);
}

static void test_sweep(void)
{
	struct lease_table *t = lease_new(100, 1);
	struct swept s = {0};
	uint64_t id[40];
	for (uint64_t f = 0; f < 40; f++)
		CHECK(lease_acquire(t, f + 1, f * 10, &id[f]) == 0);
	/* at 150: leases taken at 0..50 (expiry <= 150) are dead: files 1..6 */
	CHECK(lease_expire(t, 150, on_expired, &s) == 6 && s.n == 6);
	int ok = 1;
	for (size_t i = 0; i < 6 && i < s.n; i++)
		ok &= s.file[i] >= 1 && s.file[i] <= 6 && s.id[i] == id[s.file[i] - 1];
	CHECK(ok);
	CHECK(lease_count(t) == 34 && !lease_held(t, 3, 150) && lease_held(t, 7, 150));
	/* a renewed lease survives the next sweep */
	CHECK(lease_renew(t, 7, id[6], 159) == 0);
	s.n = 0;
	CHECK(lease_expire(t, 200, on_expired, &s) == 4 && s.n == 4); /* files 8..11 */
	CHECK(lease_held(t, 7, 200));
	CHECK(lease_expire(t, 10000, NULL, NULL) == 30 && lease_count(t) == 0);
	/* ids keep growing across expiry and reuse of the file */
	uint64_t again;
	CHECK(lease_acquire(t, 1, 10000, &again) == 0 && again > id[39]);
	lease_free(t);
}

/*
 * A restarted table (ids from 1000 on; files 1..9 existed) in grace until
 * 500 with leases of 300 ms.
 */
static void test_grace(void)
{
	struct lease_table *t = lease_new(300, 1000);
	uint64_t id = 0;
	lease_grace(t, 500, 10);
	CHECK(lease_in_grace(t, 0) && lease_in_grace(t, 499) && !lease_in_grace(t, 500));
	/* new writers: AGAIN for old files, granted for new ones */
	CHECK(lease_acquire(t, 3, 10, &id) == -EAGAIN);
	CHECK(lease_acquire(t, 10, 10, &id) == 0 && id == 1000);
	/* the old holder of file 3 reclaims its lease 77, same id; then it is ordinary */
	CHECK(lease_reclaim(t, 3, 77, 20) == 1);
	CHECK(lease_reclaim(t, 3, 77, 30) == 0 && lease_check(t, 3, 77, 30) == 0);
	CHECK(lease_held(t, 3, 30) && lease_acquire(t, 3, 30, &id) == -CAIRN_ELEASE);
	CHECK(lease_renew(t, 3, 77, 300) == 0 && lease_check(t, 3, 77, 599) == 0);
	/* nobody else gets a held file; no id of this run, no 0, no new file reclaims */
	CHECK(lease_reclaim(t, 3, 78, 40) == -CAIRN_ELEASE);
	CHECK(lease_reclaim(t, 4, 1000, 40) == -CAIRN_ELEASE);
	CHECK(lease_reclaim(t, 4, 0, 40) == -CAIRN_ELEASE);
	CHECK(lease_reclaim(t, 11, 50, 40) == -CAIRN_ELEASE);
	/* a released reclaimed lease cannot come back */
	CHECK(lease_reclaim(t, 5, 60, 40) == 1 && lease_release(t, 5, 60, 50) == 0);
	CHECK(lease_reclaim(t, 5, 60, 60) == -CAIRN_ELEASE);
	/* after the grace: no reclaims, old files take new writers, leases held go on */
	CHECK(lease_reclaim(t, 6, 61, 500) == -CAIRN_ELEASE);
	CHECK(lease_acquire(t, 6, 500, &id) == 0 && id == 1001);
	CHECK(lease_check(t, 3, 77, 500) == 0);
	CHECK(lease_reclaim(t, 3, 77, 500) == 0); /* still its live lease */
	lease_free(t);
}

int main(void)
{
	test_one_writer();
	test_sweep();
	test_grace();
	if (failures) {
		printf("test_lease: %d failures\n", failures);
		return 1;
	}
	printf("test_lease: ok\n");
	return 0;
}
