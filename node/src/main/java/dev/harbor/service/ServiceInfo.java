package dev.harbor.service;

import java.util.List;
import java.util.Map;

/**
 * One line of a node's service list.
 *
 * @param handle the service
 * @param type the class of the service object
 * @param names its local and global names
 * @param mailboxDepth messages waiting in its mailbox
 * @param messagesHandled messages its handlers have taken so far
 * @param tags what it tagged itself with (see {@link ServiceContext#tag})
 */
public record ServiceInfo(Handle handle, String type, List<String> names, int mailboxDepth, long messagesHandled,
        Map<String, String> tags) {
    public ServiceInfo {
        names = List.copyOf(names);
        tags = Map.copyOf(tags);
    }
}
