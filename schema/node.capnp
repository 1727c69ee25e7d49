@0x8a8f25e030b4dd4b;
# What the gui asks of the node. Declared so Init can hand it out; its
# methods arrive with the gui work.

interface Node {
}
