// strongroom's native addon: the few Linux system calls Node.js cannot make.
//
//   - AF_VSOCK stream sockets (non-blocking, close-on-exec) and a libuv poll
//     handle that tells JS when a descriptor is readable or writable; the
//     stream logic itself lives in TypeScript (src/vsock/).
//   - The NSM ioctl (/dev/nsm) for the NSM client in src/nsm/.
//   - Process hardening: not dumpable, no core files, memory locked.
//
// Every failing system call becomes a JS Error whose `code` is the errno name
// (as Node's own system errors), `errno` the negative errno and `syscall` the
// operation. No helper threads: everything runs on the caller's event loop.
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>
#include <linux/vm_sockets.h>

#include <node_api.h>
#include <uv.h>

// ---------------------------------------------------------------------------
// Errors and arguments

static napi_value errno_error(napi_env env, const char *syscall, int err) {
  char name[64];
  char description[128];
  char message[256];
  uv_err_name_r(-err, name, sizeof name);
  // libuv names every errno Node knows; anything else still gets a stable code.
  if (name[0] != 'E') snprintf(name, sizeof name, "ERRNO_%d", err);
  uv_strerror_r(-err, description, sizeof description);
  snprintf(message, sizeof message, "%s: %s (%s)", syscall, description, name);

  napi_value code, text, error, number, call;
  napi_create_string_utf8(env, name, NAPI_AUTO_LENGTH, &code);
  napi_create_string_utf8(env, message, NAPI_AUTO_LENGTH, &text);
  napi_create_error(env, code, text, &error);
  napi_create_int32(env, -err, &number);
  napi_set_named_property(env, error, "errno", number);
  napi_create_string_utf8(env, syscall, NAPI_AUTO_LENGTH, &call);
  napi_set_named_property(env, error, "syscall", call);
  return error;
}

/** Throws the errno error; returns NULL so callers can `return throw_errno(...)`. */
static napi_value throw_errno(napi_env env, const char *syscall, int err) {
  napi_throw(env, errno_error(env, syscall, err));
  return NULL;
}

static bool get_args(napi_env env, napi_callback_info info, size_t count, napi_value *argv) {
  size_t given = count;
  if (napi_get_cb_info(env, info, &given, argv, NULL, NULL) != napi_ok) return false;
  if (given < count) {
    napi_throw_type_error(env, "ERR_MISSING_ARGS", "missing arguments");
    return false;
  }
  return true;
}

static bool get_integer(napi_env env, napi_value value, const char *name, int64_t max, int64_t *out) {
  double number;
  if (napi_get_value_double(env, value, &number) != napi_ok || !(number >= 0 && number <= (double)max) ||
      number != (double)(int64_t)number) {
    char message[96];
    snprintf(message, sizeof message, "%s must be an integer from 0 to %lld", name, (long long)max);
    napi_throw_range_error(env, "ERR_OUT_OF_RANGE", message);
    return false;
  }
  *out = (int64_t)number;
  return true;
}

static bool get_fd(napi_env env, napi_value value, int *fd) {
  int64_t number;
  if (!get_integer(env, value, "fd", INT32_MAX, &number)) return false;
  *fd = (int)number;
  return true;
}

static bool get_u32(napi_env env, napi_value value, const char *name, uint32_t *out) {
  int64_t number;
  if (!get_integer(env, value, name, UINT32_MAX, &number)) return false;
  *out = (uint32_t)number;
  return true;
}

static bool get_bytes(napi_env env, napi_value value, const char *name, uint8_t **data, size_t *length) {
  bool is_typed_array = false;
  napi_typedarray_type type;
  void *pointer = NULL;
  if (napi_is_typedarray(env, value, &is_typed_array) != napi_ok || !is_typed_array ||
      napi_get_typedarray_info(env, value, &type, length, &pointer, NULL, NULL) != napi_ok || type != napi_uint8_array) {
    char message[96];
    snprintf(message, sizeof message, "%s must be a Uint8Array", name);
    napi_throw_type_error(env, "ERR_INVALID_ARG_TYPE", message);
    return false;
  }
  *data = pointer;
  return true;
}

static napi_value number_value(napi_env env, double number) {
  napi_value result;
  napi_create_double(env, number, &result);
  return result;
}

static napi_value undefined_value(napi_env env) {
  napi_value result;
  napi_get_undefined(env, &result);
  return result;
}

static napi_value vsock_address_value(napi_env env, const struct sockaddr_vm *address) {
  napi_value result;
  napi_create_object(env, &result);
  napi_set_named_property(env, result, "cid", number_value(env, address->svm_cid));
  napi_set_named_property(env, result, "port", number_value(env, address->svm_port));
  return result;
}

static struct sockaddr_vm vsock_address(uint32_t cid, uint32_t port) {
  struct sockaddr_vm address;
  memset(&address, 0, sizeof address);
  address.svm_family = AF_VSOCK;
  address.svm_cid = cid;
  address.svm_port = port;
  return address;
}

// ---------------------------------------------------------------------------
// AF_VSOCK sockets

static napi_value vsock_socket(napi_env env, napi_callback_info info) {
  (void)info;
  int fd = socket(AF_VSOCK, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) return throw_errno(env, "socket", errno);
  return number_value(env, fd);
}

static napi_value vsock_bind(napi_env env, napi_callback_info info) {
  napi_value argv[3];
  int fd;
  uint32_t cid, port;
  if (!get_args(env, info, 3, argv) || !get_fd(env, argv[0], &fd) || !get_u32(env, argv[1], "cid", &cid) ||
      !get_u32(env, argv[2], "port", &port))
    return NULL;
  struct sockaddr_vm address = vsock_address(cid, port);
  if (bind(fd, (struct sockaddr *)&address, sizeof address) < 0) return throw_errno(env, "bind", errno);
  return undefined_value(env);
}

static napi_value socket_listen(napi_env env, napi_callback_info info) {
  napi_value argv[2];
  int fd;
  int64_t backlog;
  if (!get_args(env, info, 2, argv) || !get_fd(env, argv[0], &fd) || !get_integer(env, argv[1], "backlog", INT32_MAX, &backlog))
    return NULL;
  if (listen(fd, (int)backlog) < 0) return throw_errno(env, "listen", errno);
  return undefined_value(env);
}

/** {fd, cid, port} of the next pending connection, or null when there is none. */
static napi_value vsock_accept(napi_env env, napi_callback_info info) {
  napi_value argv[1], result;
  int fd;
  if (!get_args(env, info, 1, argv) || !get_fd(env, argv[0], &fd)) return NULL;
  struct sockaddr_vm peer;
  socklen_t length = sizeof peer;
  int accepted;
  do accepted = accept4(fd, (struct sockaddr *)&peer, &length, SOCK_NONBLOCK | SOCK_CLOEXEC);
  while (accepted < 0 && errno == EINTR);
  if (accepted < 0) {
    if (errno == EAGAIN || errno == EWOULDBLOCK) {
      napi_get_null(env, &result);
      return result;
    }
    return throw_errno(env, "accept", errno);
  }
  result = vsock_address_value(env, &peer);
  napi_set_named_property(env, result, "fd", number_value(env, accepted));
  return result;
}

/** Starts a non-blocking connect: true when already connected, false while in progress. */
static napi_value vsock_connect(napi_env env, napi_callback_info info) {
  napi_value argv[3], result;
  int fd;
  uint32_t cid, port;
  if (!get_args(env, info, 3, argv) || !get_fd(env, argv[0], &fd) || !get_u32(env, argv[1], "cid", &cid) ||
      !get_u32(env, argv[2], "port", &port))
    return NULL;
  struct sockaddr_vm address = vsock_address(cid, port);
  bool connected = connect(fd, (struct sockaddr *)&address, sizeof address) == 0;
  // After EINTR a non-blocking connect carries on in the background, as after EINPROGRESS.
  if (!connected && errno != EINPROGRESS && errno != EINTR) return throw_errno(env, "connect", errno);
  napi_get_boolean(env, connected, &result);
  return result;
}

static int pending_socket_error(int fd) {
  int err = 0;
  socklen_t length = sizeof err;
  if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &length) < 0) return errno;
  return err;
}

/** After the poller reports a connecting socket writable: throws if the connect failed. */
static napi_value connect_result(napi_env env, napi_callback_info info) {
  napi_value argv[1];
  int fd;
  if (!get_args(env, info, 1, argv) || !get_fd(env, argv[0], &fd)) return NULL;
  int err = pending_socket_error(fd);
  if (err != 0) return throw_errno(env, "connect", err);
  return undefined_value(env);
}

static napi_value vsock_name(napi_env env, napi_callback_info info, bool peer) {
  napi_value argv[1];
  int fd;
  if (!get_args(env, info, 1, argv) || !get_fd(env, argv[0], &fd)) return NULL;
  struct sockaddr_vm address;
  socklen_t length = sizeof address;
  int status = peer ? getpeername(fd, (struct sockaddr *)&address, &length) : getsockname(fd, (struct sockaddr *)&address, &length);
  if (status < 0) return throw_errno(env, peer ? "getpeername" : "getsockname", errno);
  if (address.svm_family != AF_VSOCK) return throw_errno(env, peer ? "getpeername" : "getsockname", EAFNOSUPPORT);
  return vsock_address_value(env, &address);
}

static napi_value vsock_local_address(napi_env env, napi_callback_info info) { return vsock_name(env, info, false); }
static napi_value vsock_remote_address(napi_env env, napi_callback_info info) { return vsock_name(env, info, true); }

static napi_value vsock_local_cid(napi_env env, napi_callback_info info) {
  (void)info;
  int fd = open("/dev/vsock", O_RDONLY | O_CLOEXEC);
  if (fd < 0) return throw_errno(env, "open /dev/vsock", errno);
  unsigned int cid = 0;
  int status = ioctl(fd, IOCTL_VM_SOCKETS_GET_LOCAL_CID, &cid);
  int err = errno;
  close(fd);
  if (status < 0) return throw_errno(env, "ioctl IOCTL_VM_SOCKETS_GET_LOCAL_CID", err);
  return number_value(env, cid);
}

/**
 * A connected AF_UNIX stream pair with the same flags as the vsock sockets.
 * The socket stream logic is family-agnostic, so this lets it be exercised
 * on real kernel sockets where no vsock peer is reachable (tests).
 */
static napi_value unix_socket_pair(napi_env env, napi_callback_info info) {
  (void)info;
  int fds[2];
  if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, fds) < 0) return throw_errno(env, "socketpair", errno);
  napi_value result;
  napi_create_array_with_length(env, 2, &result);
  napi_set_element(env, result, 0, number_value(env, fds[0]));
  napi_set_element(env, result, 1, number_value(env, fds[1]));
  return result;
}

// ---------------------------------------------------------------------------
// Reading, writing, closing (any socket or file descriptor)

#define WOULD_BLOCK (-1)

/** A read or write's outcome for JS: the byte count, WOULD_BLOCK on a full/empty socket, or a thrown errno error. */
static napi_value io_result(napi_env env, const char *operation, ssize_t count) {
  if (count >= 0) return number_value(env, (double)count);
  if (errno == EAGAIN || errno == EWOULDBLOCK) return number_value(env, WOULD_BLOCK);
  return throw_errno(env, operation, errno);
}

/** Bytes read into the array, 0 at end of stream, -1 when nothing is available yet. */
static napi_value fd_read(napi_env env, napi_callback_info info) {
  napi_value argv[2];
  int fd;
  uint8_t *data;
  size_t length;
  if (!get_args(env, info, 2, argv) || !get_fd(env, argv[0], &fd) || !get_bytes(env, argv[1], "buffer", &data, &length)) return NULL;
  if (length == 0) {
    napi_throw_range_error(env, "ERR_OUT_OF_RANGE", "read needs a buffer of at least one byte");
    return NULL;
  }
  ssize_t count;
  do count = read(fd, data, length);
  while (count < 0 && errno == EINTR);
  return io_result(env, "read", count);
}

/** Bytes written from the array (possibly fewer than given), or -1 when the socket buffer is full. */
static napi_value socket_write(napi_env env, napi_callback_info info) {
  napi_value argv[2];
  int fd;
  uint8_t *data;
  size_t length;
  if (!get_args(env, info, 2, argv) || !get_fd(env, argv[0], &fd) || !get_bytes(env, argv[1], "buffer", &data, &length)) return NULL;
  ssize_t count;
  // MSG_NOSIGNAL: a closed peer is an EPIPE error here, never a SIGPIPE.
  do count = send(fd, data, length, MSG_NOSIGNAL);
  while (count < 0 && errno == EINTR);
  return io_result(env, "write", count);
}

static napi_value socket_shutdown_write(napi_env env, napi_callback_info info) {
  napi_value argv[1];
  int fd;
  if (!get_args(env, info, 1, argv) || !get_fd(env, argv[0], &fd)) return NULL;
  if (shutdown(fd, SHUT_WR) < 0) return throw_errno(env, "shutdown", errno);
  return undefined_value(env);
}

static napi_value fd_close(napi_env env, napi_callback_info info) {
  napi_value argv[1];
  int fd;
  if (!get_args(env, info, 1, argv) || !get_fd(env, argv[0], &fd)) return NULL;
  // On Linux the descriptor is released even when close reports EINTR, so never retry.
  if (close(fd) < 0 && errno != EINTR) return throw_errno(env, "close", errno);
  return undefined_value(env);
}

// ---------------------------------------------------------------------------
// Poller: a uv_poll_t on the caller's event loop, reporting (error, events) to
// a JS callback.
//
// Lifetime: closing (from JS, or from the finalizer of a handle JS dropped)
// releases the N-API resources at once, while the environment is certainly
// alive, and hands the uv handle to uv_close. The struct is freed once libuv
// has finished closing the handle AND the JS external has been collected,
// whichever comes last, so a callback pending at close time finds valid
// memory and returns without calling JS. A poller still open when its
// environment exits (a worker thread ending) is closed by an async cleanup
// hook, which Node.js waits for: the close callback must run before this
// addon's code is unloaded with the environment.

typedef struct {
  uv_poll_t handle;
  napi_env env;
  int fd;
  napi_ref callback;
  napi_async_context async_context;
  napi_async_cleanup_hook_handle cleanup_hook;
  bool closing;
  bool handle_closed;
  bool finalized;
} poller_t;

static const napi_type_tag POLLER_TAG = {0x7374726f6e67726fULL, 0x6f6d2d706f6c6c31ULL};

static void poller_handle_closed(poller_t *poller) {
  poller->handle_closed = true;
  if (poller->finalized) free(poller);
}

static void poller_on_close(uv_handle_t *handle) { poller_handle_closed(handle->data); }

static void poller_release_napi(poller_t *poller) {
  poller->closing = true;
  napi_delete_reference(poller->env, poller->callback);
  napi_async_destroy(poller->env, poller->async_context);
}

static void poller_begin_close(poller_t *poller) {
  if (poller->closing) return;
  poller_release_napi(poller);
  napi_remove_async_cleanup_hook(poller->cleanup_hook);
  uv_close((uv_handle_t *)&poller->handle, poller_on_close);
}

static void poller_on_close_at_exit(uv_handle_t *handle) {
  poller_t *poller = handle->data;
  napi_async_cleanup_hook_handle hook = poller->cleanup_hook;
  poller_handle_closed(poller);
  napi_remove_async_cleanup_hook(hook); // tells Node.js this poller is done
}

static void poller_on_env_exit(napi_async_cleanup_hook_handle hook, void *data) {
  (void)hook;
  poller_t *poller = data;
  poller_release_napi(poller);
  uv_close((uv_handle_t *)&poller->handle, poller_on_close_at_exit);
}

static void poller_finalize(napi_env env, void *data, void *hint) {
  (void)env;
  (void)hint;
  poller_t *poller = data;
  poller->finalized = true;
  if (poller->handle_closed) free(poller);
  else poller_begin_close(poller);
}

static void poller_on_events(uv_poll_t *handle, int status, int events) {
  poller_t *poller = handle->data;
  if (poller->closing) return;
  napi_env env = poller->env;
  napi_handle_scope scope;
  napi_open_handle_scope(env, &scope);
  napi_value callback, receiver, argv[2];
  napi_get_reference_value(env, poller->callback, &callback);
  napi_get_global(env, &receiver); // napi_make_callback wants an object as `this`
  if (status < 0) {
    // libuv reports any POLLERR as EBADF; the socket's own pending error says what really happened.
    int err = pending_socket_error(poller->fd);
    argv[0] = errno_error(env, "poll", err != 0 ? err : -status);
  } else {
    napi_get_null(env, &argv[0]);
  }
  napi_create_int32(env, events, &argv[1]);
  if (napi_make_callback(env, poller->async_context, receiver, callback, 2, argv, NULL) == napi_pending_exception) {
    napi_value exception;
    napi_get_and_clear_last_exception(env, &exception);
    napi_fatal_exception(env, exception);
  }
  napi_close_handle_scope(env, scope);
}

static poller_t *get_poller(napi_env env, napi_value value) {
  bool tagged = false;
  void *data = NULL;
  if (napi_check_object_type_tag(env, value, &POLLER_TAG, &tagged) != napi_ok || !tagged ||
      napi_get_value_external(env, value, &data) != napi_ok) {
    napi_throw_type_error(env, "ERR_INVALID_ARG_TYPE", "not a poller handle");
    return NULL;
  }
  return data;
}

static napi_value poller_create(napi_env env, napi_callback_info info) {
  napi_value argv[2], resource, resource_name, result;
  int fd;
  napi_valuetype type;
  if (!get_args(env, info, 2, argv) || !get_fd(env, argv[0], &fd)) return NULL;
  if (napi_typeof(env, argv[1], &type) != napi_ok || type != napi_function) {
    napi_throw_type_error(env, "ERR_INVALID_ARG_TYPE", "callback must be a function");
    return NULL;
  }
  uv_loop_t *loop;
  if (napi_get_uv_event_loop(env, &loop) != napi_ok) return NULL;
  poller_t *poller = calloc(1, sizeof *poller);
  if (poller == NULL) return throw_errno(env, "poller", ENOMEM);
  int status = uv_poll_init(loop, &poller->handle, fd);
  if (status < 0) {
    free(poller);
    return throw_errno(env, "uv_poll_init", -status);
  }
  poller->handle.data = poller;
  poller->env = env;
  poller->fd = fd;
  napi_create_reference(env, argv[1], 1, &poller->callback);
  napi_create_object(env, &resource);
  napi_create_string_utf8(env, "StrongroomPoller", NAPI_AUTO_LENGTH, &resource_name);
  napi_async_init(env, resource, resource_name, &poller->async_context);
  napi_add_async_cleanup_hook(env, poller_on_env_exit, poller, &poller->cleanup_hook);
  if (napi_create_external(env, poller, poller_finalize, NULL, &result) != napi_ok) {
    poller->finalized = true;
    poller_begin_close(poller);
    return NULL;
  }
  napi_type_tag_object(env, result, &POLLER_TAG);
  return result;
}

/** Watches for `events` (POLL_READABLE | POLL_WRITABLE); 0 stops watching. */
static napi_value poller_set(napi_env env, napi_callback_info info) {
  napi_value argv[2];
  int64_t events;
  if (!get_args(env, info, 2, argv)) return NULL;
  poller_t *poller = get_poller(env, argv[0]);
  if (poller == NULL || !get_integer(env, argv[1], "events", UV_READABLE | UV_WRITABLE, &events)) return NULL;
  if (poller->closing) {
    napi_throw_error(env, "ERR_POLLER_CLOSED", "the poller is closed");
    return NULL;
  }
  int status = events == 0 ? uv_poll_stop(&poller->handle) : uv_poll_start(&poller->handle, (int)events, poller_on_events);
  if (status < 0) return throw_errno(env, "uv_poll_start", -status);
  return undefined_value(env);
}

/** Stops and closes the poll handle (idempotent); the descriptor may be closed right after. */
static napi_value poller_close(napi_env env, napi_callback_info info) {
  napi_value argv[1];
  if (!get_args(env, info, 1, argv)) return NULL;
  poller_t *poller = get_poller(env, argv[0]);
  if (poller == NULL) return NULL;
  poller_begin_close(poller);
  return undefined_value(env);
}

// ---------------------------------------------------------------------------
// NSM: the raw request/response ioctl of the Linux nsm driver (uapi linux/nsm.h).

#define NSM_REQUEST_MAX_SIZE 0x1000
#define NSM_RESPONSE_MAX_SIZE 0x3000

struct nsm_iovec {
  uint64_t addr;
  uint64_t len;
};
struct nsm_raw {
  struct nsm_iovec request;
  struct nsm_iovec response;
};
#define NSM_IOCTL_RAW _IOWR(0x0A, 0x0, struct nsm_raw)
_Static_assert(NSM_IOCTL_RAW == 0xC0200A00u, "NSM_IOCTL_RAW must match the kernel's");

static napi_value nsm_open(napi_env env, napi_callback_info info) {
  napi_value argv[1];
  char path[4096];
  size_t length = 0;
  if (!get_args(env, info, 1, argv)) return NULL;
  if (napi_get_value_string_utf8(env, argv[0], path, sizeof path, &length) != napi_ok || length == 0 ||
      length >= sizeof path - 1 || strlen(path) != length) {
    napi_throw_type_error(env, "ERR_INVALID_ARG_VALUE", "path must be a non-empty string without NUL characters, under 4095 bytes");
    return NULL;
  }
  int fd = open(path, O_RDWR | O_CLOEXEC);
  if (fd < 0) {
    int err = errno;
    char syscall[128];
    snprintf(syscall, sizeof syscall, "open %s", path);
    return throw_errno(env, syscall, err);
  }
  return number_value(env, fd);
}

/** One NSM request (CBOR, at most 4096 bytes) in, the NSM's response out. */
static napi_value nsm_request(napi_env env, napi_callback_info info) {
  napi_value argv[2], result;
  int fd;
  uint8_t *request;
  size_t request_length;
  if (!get_args(env, info, 2, argv) || !get_fd(env, argv[0], &fd) || !get_bytes(env, argv[1], "request", &request, &request_length))
    return NULL;
  if (request_length > NSM_REQUEST_MAX_SIZE) {
    char message[128];
    snprintf(message, sizeof message, "NSM request of %zu bytes is over the NSM's limit of %d bytes", request_length, NSM_REQUEST_MAX_SIZE);
    napi_throw_range_error(env, "ERR_NSM_REQUEST_TOO_LARGE", message);
    return NULL;
  }
  uint8_t response[NSM_RESPONSE_MAX_SIZE];
  struct nsm_raw raw = {
      .request = {.addr = (uint64_t)(uintptr_t)request, .len = request_length},
      .response = {.addr = (uint64_t)(uintptr_t)response, .len = sizeof response},
  };
  int status;
  do status = ioctl(fd, NSM_IOCTL_RAW, &raw);
  while (status < 0 && errno == EINTR);
  if (status < 0) return throw_errno(env, "ioctl NSM_IOCTL_RAW", errno);
  if (raw.response.len > sizeof response) {
    explicit_bzero(response, sizeof response);
    return throw_errno(env, "ioctl NSM_IOCTL_RAW", EMSGSIZE);
  }
  napi_status created = napi_create_buffer_copy(env, raw.response.len, response, NULL, &result);
  // Responses can carry key material (GetRandom); leave no copy on the stack.
  explicit_bzero(response, sizeof response);
  return created == napi_ok ? result : NULL;
}

// ---------------------------------------------------------------------------
// Process hardening (each with its read-back)

static napi_value set_not_dumpable(napi_env env, napi_callback_info info) {
  (void)info;
  if (prctl(PR_SET_DUMPABLE, 0UL, 0UL, 0UL, 0UL) < 0) return throw_errno(env, "prctl PR_SET_DUMPABLE", errno);
  return undefined_value(env);
}

static napi_value is_dumpable(napi_env env, napi_callback_info info) {
  (void)info;
  int dumpable = prctl(PR_GET_DUMPABLE, 0UL, 0UL, 0UL, 0UL);
  if (dumpable < 0) return throw_errno(env, "prctl PR_GET_DUMPABLE", errno);
  napi_value result;
  napi_get_boolean(env, dumpable != 0, &result);
  return result;
}

/** Soft and hard RLIMIT_CORE to 0: no core files, and no raising the limit again. */
static napi_value set_core_limit_zero(napi_env env, napi_callback_info info) {
  (void)info;
  struct rlimit none = {0, 0};
  if (setrlimit(RLIMIT_CORE, &none) < 0) return throw_errno(env, "setrlimit RLIMIT_CORE", errno);
  return undefined_value(env);
}

/** The soft RLIMIT_CORE in bytes (Infinity when unlimited). */
static napi_value core_limit(napi_env env, napi_callback_info info) {
  (void)info;
  struct rlimit limit;
  if (getrlimit(RLIMIT_CORE, &limit) < 0) return throw_errno(env, "getrlimit RLIMIT_CORE", errno);
  if (limit.rlim_cur == RLIM_INFINITY) {
    napi_value global, infinity;
    napi_get_global(env, &global);
    napi_get_named_property(env, global, "Infinity", &infinity);
    return infinity;
  }
  return number_value(env, (double)limit.rlim_cur);
}

/** mlockall(MCL_CURRENT | MCL_FUTURE): "OK", or the errno name (best effort by design). */
static napi_value mlock_all(napi_env env, napi_callback_info info) {
  (void)info;
  char name[64] = "OK";
  if (mlockall(MCL_CURRENT | MCL_FUTURE) < 0) uv_err_name_r(-errno, name, sizeof name);
  napi_value result;
  napi_create_string_utf8(env, name, NAPI_AUTO_LENGTH, &result);
  return result;
}

// ---------------------------------------------------------------------------

static napi_value Init(napi_env env, napi_value exports) {
  napi_property_descriptor properties[] = {
      {"vsockSocket", NULL, vsock_socket, NULL, NULL, NULL, napi_enumerable, NULL},
      {"vsockBind", NULL, vsock_bind, NULL, NULL, NULL, napi_enumerable, NULL},
      {"listen", NULL, socket_listen, NULL, NULL, NULL, napi_enumerable, NULL},
      {"vsockAccept", NULL, vsock_accept, NULL, NULL, NULL, napi_enumerable, NULL},
      {"vsockConnect", NULL, vsock_connect, NULL, NULL, NULL, napi_enumerable, NULL},
      {"connectResult", NULL, connect_result, NULL, NULL, NULL, napi_enumerable, NULL},
      {"vsockLocalAddress", NULL, vsock_local_address, NULL, NULL, NULL, napi_enumerable, NULL},
      {"vsockRemoteAddress", NULL, vsock_remote_address, NULL, NULL, NULL, napi_enumerable, NULL},
      {"vsockLocalCid", NULL, vsock_local_cid, NULL, NULL, NULL, napi_enumerable, NULL},
      {"unixSocketPair", NULL, unix_socket_pair, NULL, NULL, NULL, napi_enumerable, NULL},
      {"read", NULL, fd_read, NULL, NULL, NULL, napi_enumerable, NULL},
      {"write", NULL, socket_write, NULL, NULL, NULL, napi_enumerable, NULL},
      {"shutdownWrite", NULL, socket_shutdown_write, NULL, NULL, NULL, napi_enumerable, NULL},
      {"close", NULL, fd_close, NULL, NULL, NULL, napi_enumerable, NULL},
      {"pollerCreate", NULL, poller_create, NULL, NULL, NULL, napi_enumerable, NULL},
      {"pollerSet", NULL, poller_set, NULL, NULL, NULL, napi_enumerable, NULL},
      {"pollerClose", NULL, poller_close, NULL, NULL, NULL, napi_enumerable, NULL},
      {"nsmOpen", NULL, nsm_open, NULL, NULL, NULL, napi_enumerable, NULL},
      {"nsmRequest", NULL, nsm_request, NULL, NULL, NULL, napi_enumerable, NULL},
      {"setNotDumpable", NULL, set_not_dumpable, NULL, NULL, NULL, napi_enumerable, NULL},
      {"isDumpable", NULL, is_dumpable, NULL, NULL, NULL, napi_enumerable, NULL},
      {"setCoreLimitZero", NULL, set_core_limit_zero, NULL, NULL, NULL, napi_enumerable, NULL},
      {"coreLimit", NULL, core_limit, NULL, NULL, NULL, napi_enumerable, NULL},
      {"mlockAll", NULL, mlock_all, NULL, NULL, NULL, napi_enumerable, NULL},
      {"POLL_READABLE", NULL, NULL, NULL, NULL, number_value(env, UV_READABLE), napi_enumerable, NULL},
      {"POLL_WRITABLE", NULL, NULL, NULL, NULL, number_value(env, UV_WRITABLE), napi_enumerable, NULL},
      {"WOULD_BLOCK", NULL, NULL, NULL, NULL, number_value(env, WOULD_BLOCK), napi_enumerable, NULL},
      {"NSM_REQUEST_MAX_SIZE", NULL, NULL, NULL, NULL, number_value(env, NSM_REQUEST_MAX_SIZE), napi_enumerable, NULL},
      {"NSM_RESPONSE_MAX_SIZE", NULL, NULL, NULL, NULL, number_value(env, NSM_RESPONSE_MAX_SIZE), napi_enumerable, NULL},
  };
  if (napi_define_properties(env, exports, sizeof properties / sizeof properties[0], properties) != napi_ok) return NULL;
  return exports;
}

NAPI_MODULE(NODE_GYP_MODULE_NAME, Init)
