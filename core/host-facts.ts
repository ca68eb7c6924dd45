// A node's host facts, gathered by its agent at start (systeminformation) and sent in its Hello;
// central keeps the latest per node and formats map them (ECS host.os.*, OCSF device.os).

export interface HostFacts {
  hostname: string;
  os: {
    /** e.g. "Debian GNU/Linux" */
    name: string;
    /** e.g. "12" */
    version: string;
    /** e.g. "debian" */
    family: string;
    /** e.g. "linux" */
    platform: string;
  };
  /** e.g. "6.1.0-18-amd64" */
  kernel: string;
  /** e.g. "x86_64" */
  architecture: string;
  /** Unix milliseconds. */
  bootTime: number;
  /** e.g. "containerd 1.6.20" (empty when unknown). */
  containerRuntime: string;
}
