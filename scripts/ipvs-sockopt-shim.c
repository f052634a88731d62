/*
 * ipvs-sockopt-shim.c - lets keepalived's checker run on a kernel without
 * IPVS, for benchmarks only (examples/check_scale.rs --keepalived-preload).
 *
 * keepalived refuses to start its checker when IPVS is missing (ipvs_start
 * fails, check_daemon.c). With this library in LD_PRELOAD, the IPVS socket
 * options (IP_VS_SO_SET_* and IP_VS_SO_GET_*, include/uapi/linux/ip_vs.h)
 * are answered in user space: every change succeeds and every query returns
 * an empty table. Nothing else is touched: keepalived's health checking,
 * which is what the benchmark measures, runs unmodified.
 *
 * Build: cc -O2 -shared -fPIC -o ipvs-sockopt-shim.so ipvs-sockopt-shim.c -ldl
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <string.h>
#include <netinet/in.h>
#include <sys/socket.h>

#define IP_VS_BASE_CTL (64 + 1024 + 64)
#define IP_VS_SO_SET_MAX (IP_VS_BASE_CTL + 15)
#define IP_VS_SO_GET_VERSION IP_VS_BASE_CTL
#define IP_VS_SO_GET_INFO (IP_VS_BASE_CTL + 1)
#define IP_VS_SO_GET_MAX (IP_VS_BASE_CTL + 8)

static int is_ipvs(int level, int optname, int max)
{
	return level == IPPROTO_IP && optname >= IP_VS_BASE_CTL && optname <= max;
}

int setsockopt(int fd, int level, int optname, const void *optval, socklen_t optlen)
{
	static int (*real)(int, int, int, const void *, socklen_t);
	if (is_ipvs(level, optname, IP_VS_SO_SET_MAX))
		return 0;
	if (!real)
		real = dlsym(RTLD_NEXT, "setsockopt");
	return real(fd, level, optname, optval, optlen);
}

int getsockopt(int fd, int level, int optname, void *optval, socklen_t *optlen)
{
	static int (*real)(int, int, int, void *, socklen_t *);
	if (is_ipvs(level, optname, IP_VS_SO_GET_MAX)) {
		memset(optval, 0, *optlen);
		if (optname == IP_VS_SO_GET_VERSION)
			strncpy(optval, "IP Virtual Server version 1.2.1 (size=4096)", *optlen);
		else if (optname == IP_VS_SO_GET_INFO && *optlen >= 8) {
			unsigned int info[3] = { 0x010201, 4096, 0 };
			memcpy(optval, info, *optlen < sizeof(info) ? *optlen : sizeof(info));
		}
		return 0;
	}
	if (!real)
		real = dlsym(RTLD_NEXT, "getsockopt");
	return real(fd, level, optname, optval, optlen);
}
