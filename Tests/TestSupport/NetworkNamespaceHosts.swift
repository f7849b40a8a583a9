import Foundation
import XCTest

/// Two "hosts" on this machine for multi-host MPI tests: network namespaces joined by a veth
/// pair with addresses only inside them, an `ip netns exec` launch agent standing in for ssh, and
/// a hostfile. Needs root (or CAP_SYS_ADMIN); where namespaces cannot be made it skips the test
/// with the reason. `remove()` deletes the namespaces (and with them the veth pair).
public final class NetworkNamespaceHosts {
    public let names: [String]
    public let addresses: [String]
    /// Each host's end of the veth pair.
    public let links: [String]
    private let agent: String
    /// One slot per host, in the order of `addresses`.
    public let hostfile: String

    public init(directory: TemporaryDirectory) throws {
        let tag = "\(getpid() % 100_000)"
        names = ["ttl\(tag)a", "ttl\(tag)b"]
        let subnet = "10.\(77 + getpid() % 50).\(getpid() % 250)"
        addresses = ["\(subnet).1", "\(subnet).2"]
        links = ["veth-\(tag)a", "veth-\(tag)b"]
        agent = directory.path("netns-agent.sh")
        hostfile = directory.path("hostfile")
        guard FileManager.default.isExecutableFile(atPath: "/usr/sbin/ip") else { throw XCTSkip("/usr/sbin/ip (iproute2) is not installed") }
        let add = try ChildProcess.run("/usr/sbin/ip", ["netns", "add", names[0]])
        guard add.status == 0 else { throw XCTSkip("cannot create a network namespace here (\(add.stderr.trimmingCharacters(in: .whitespacesAndNewlines))); needs root") }
        let commands = [
            ["netns", "add", names[1]],
            ["link", "add", links[0], "netns", names[0], "type", "veth", "peer", "name", links[1], "netns", names[1]],
            ["-n", names[0], "addr", "add", "\(addresses[0])/24", "dev", links[0]],
            ["-n", names[1], "addr", "add", "\(addresses[1])/24", "dev", links[1]],
            ["-n", names[0], "link", "set", links[0], "up"], ["-n", names[1], "link", "set", links[1], "up"],
            ["-n", names[0], "link", "set", "lo", "up"], ["-n", names[1], "link", "set", "lo", "up"],
        ]
        for command in commands {
            let step = try ChildProcess.run("/usr/sbin/ip", command)
            guard step.status == 0 else {
                remove()
                throw XCTSkip("cannot set up the namespaces: ip \(command.joined(separator: " ")): \(step.stderr)")
            }
        }
        try """
            #!/bin/sh
            # Open MPI's plm_rsh_agent: "$1" is the host (an address), the rest the command to start there.
            host=$1; shift
            case $host in \(addresses[0])) ns=\(names[0]);; \(addresses[1])) ns=\(names[1]);; *) echo "no such host $host" >&2; exit 1;; esac
            exec /usr/sbin/ip netns exec $ns sh -c "$*"

            """.write(toFile: agent, atomically: true, encoding: .utf8)
        chmod(agent, 0o755)
        try addresses.map { "\($0) slots=1\n" }.joined().write(toFile: hostfile, atomically: true, encoding: .utf8)
    }

    /// mpirun options for these hosts: the hostfile, the agent, TCP only on their subnet.
    public var mpirunArguments: [String] {
        ["--hostfile", hostfile] + transportArguments
    }

    /// The same without the hostfile (for a launcher that writes its own).
    public var transportArguments: [String] {
        let subnet = addresses[0].split(separator: ".").prefix(3).joined(separator: ".") + ".0/24"
        return ["--allow-run-as-root", "--mca", "plm_rsh_agent", agent, "--mca", "btl", "self,tcp",
                "--mca", "btl_tcp_if_include", subnet, "--mca", "oob_tcp_if_include", subnet, "--bind-to", "none"]
    }

    /// Takes host `index`'s link down or brings it back: the host drops off the network, as a
    /// node whose switch port dies, while its processes keep running.
    public func setLink(of index: Int, up: Bool) throws {
        let command = ["-n", names[index], "link", "set", links[index], up ? "up" : "down"]
        let result = try ChildProcess.run("/usr/sbin/ip", command)
        guard result.status == 0 else { throw XCTSkip("ip \(command.joined(separator: " ")): \(result.stderr)") }
    }

    public func remove() {
        for name in names { _ = try? ChildProcess.run("/usr/sbin/ip", ["netns", "delete", name]) }
    }
}
