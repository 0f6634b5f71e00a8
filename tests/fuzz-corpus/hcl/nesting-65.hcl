job "a" {
g {
g {
g {
g {
g {
g {
g {
g {
g {
g {
g {
g {
g {
g {
g {
g {
g {
g {
g {
g {
g {
g {
g {
g {
g {
g {
g {
g {
g {
g {
g {
g {
g {
g {
g {
g {
g {
g {
g {
g {
g {
g {
g {
g {
g {
g {
g {
g {
g {
g {
g {
g {
g {
g {
g {
g {
g {
g {
g {
g {
g {
g {
g {
g {
g {
}
}
}
}
}
}
}
}
}
}
}
}
}
}
}
}
}
}
}
}
}
}
}
}
}
}
}
}
}
}
}
}
}
}
}
}
}
}
}
}
}
}
}
}
}
}
}
}
}
}
}
}
}
}
}
}
}
}
}
}
}
}
}
}
}
}
