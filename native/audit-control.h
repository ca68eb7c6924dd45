// Synchronous requests on a NETLINK_AUDIT socket: status (AUDIT_GET/AUDIT_SET), rule list,
// add and delete. Each request waits for its own reply (matched by sequence number) at most
// two seconds, so a wedged kernel cannot hang the caller. Errors are negative errno values.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace nw {

struct AuditStatusData {
  uint32_t mask, enabled, failure, pid, rate_limit, backlog_limit, lost, backlog;
  uint32_t feature_bitmap, backlog_wait_time, backlog_wait_time_actual;
};

// Opens a NETLINK_AUDIT socket (no group) with a receive timeout; returns fd or -errno.
int OpenAuditSocket();

int AuditGetStatus(int fd, AuditStatusData* out);
// Sets the fields selected by mask (AUDIT_STATUS_*): enabled and/or pid.
int AuditSetStatus(int fd, uint32_t mask, uint32_t enabled, uint32_t pid);
// Each rule as the raw struct audit_rule_data the kernel returned (what deletion needs back).
int AuditListRules(int fd, std::vector<std::string>* rules);
int AuditAddRule(int fd, const std::string& rule);
int AuditDelRule(int fd, const std::string& rule);

// "-a always,exit -F arch=<b64|b32> -S execve,execveat -k KEY" as struct audit_rule_data.
// Empty when the arch has no exec syscalls we know on this build's machine.
std::string BuildExecRule(bool b64, const std::string& key);
// The native arch ids and exec syscall numbers of this machine, for describing rules.
uint32_t ExecRuleArch(bool b64);
// "-w PATH -p wa -k KEY" as struct audit_rule_data: every syscall that writes to the file or
// changes its attributes (open for write, truncate, chmod, chown, rename, unlink, setxattr...).
// Empty when the path is not absolute, ends in '/', or path or key is too long.
std::string BuildWatchRule(const std::string& path, const std::string& key);

}  // namespace nw
