/**
 * What a service principal and a service-linked role name look like. Shared by the handler, which checks the
 * resource properties at deploy time, and the ServiceLinkedRoles construct, which checks its props at synth;
 * no SDK import, so the construct can load it.
 */
export const SERVICE_PRINCIPAL = /^[a-z0-9][a-z0-9.-]*\.amazonaws\.com$/;
export const SERVICE_LINKED_ROLE_NAME = /^AWSServiceRoleFor[\w+=,.@-]+$/;
