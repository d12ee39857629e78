-- Prepended to the claim and take-over scripts (not a command of its own): the replication state of the
-- node that runs the script, returned with its reply, so the worker knows whether to WAIT for a replica
-- without a round trip of its own. master_replid names the node's replication history: a promoted
-- replica starts a new one. A user whose ACL refuses INFO gets -1, "unknown".
local function replication_state()
  local info = redis.pcall('INFO', 'replication')
  if type(info) ~= 'string' then
    return -1, ''
  end
  return tonumber(string.match(info, 'connected_slaves:(%d+)')) or 0, string.match(info, 'master_replid:(%x+)') or ''
end
