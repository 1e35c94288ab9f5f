// The floor of bench/events.ts: libbpf's own ring buffer consumer (ring_buffer__poll) on a pinned ring,
// counting records, for argv[2] ms. Prints the count.
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>

static unsigned long long records;

static int on_record(void *ctx, void *data, size_t size)
{
	(void)ctx;
	(void)data;
	(void)size;
	records++;
	return 0;
}

static long long now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000LL + ts.tv_nsec / 1000000;
}

int main(int argc, char **argv)
{
	if (argc != 3) {
		fprintf(stderr, "usage: %s PINNED_RINGBUF MS\n", argv[0]);
		return 2;
	}
	int fd = bpf_obj_get(argv[1]);
	if (fd < 0) {
		perror("bpf_obj_get");
		return 1;
	}
	struct ring_buffer *rb = ring_buffer__new(fd, on_record, NULL, NULL);
	if (!rb) {
		perror("ring_buffer__new");
		return 1;
	}
	printf("ready\n");
	fflush(stdout);
	long long end = now_ms() + atoll(argv[2]);
	while (now_ms() < end)
		ring_buffer__poll(rb, 50);
	ring_buffer__consume(rb);
	printf("%llu\n", records);
	ring_buffer__free(rb);
	return 0;
}
